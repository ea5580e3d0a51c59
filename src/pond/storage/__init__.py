"""Where exported objects live: behind one small interface."""
