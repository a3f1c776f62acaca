"""gazecxr.metrics"""
