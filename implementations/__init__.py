"""Implementations under test, each a faithful module plus its adapter."""
