"""Test and benchmark harness: live servers on loopback."""
