"""gazecxr.viewer"""
