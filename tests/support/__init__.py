"""Helpers shared by the test suites: real servers, real clients, generated audio."""
