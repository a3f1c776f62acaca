"""gazecxr.demo"""
