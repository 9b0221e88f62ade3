"""Code shared by the API, the worker and the cleanup: settings, models, stores, URL checks."""
