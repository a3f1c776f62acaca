"""gazecxr.data"""
