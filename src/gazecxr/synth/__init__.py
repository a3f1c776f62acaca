"""gazecxr.synth"""
