"""gazecxr.losses"""
