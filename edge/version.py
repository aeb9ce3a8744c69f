"""The toolkit's version, in a module of its own so that library modules can record it (bundle
manifests, Triton repositories, doctor reports, the serve API) without importing the public API."""

__version__ = "0.1.0"
