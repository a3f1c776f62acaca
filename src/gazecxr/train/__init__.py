"""gazecxr.train"""
