"""wastewatch/core"""
