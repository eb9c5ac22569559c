"""wastewatch/city"""
