"""wastewatch/workbench"""
