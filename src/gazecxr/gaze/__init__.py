"""gazecxr.gaze"""
