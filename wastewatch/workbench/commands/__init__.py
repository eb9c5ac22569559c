"""wastewatch/workbench/commands"""
