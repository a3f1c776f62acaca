"""gazecxr.models"""
