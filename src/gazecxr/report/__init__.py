"""gazecxr.report"""
