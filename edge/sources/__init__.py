"""Camera and file sources from URIs (csi://, v4l2://, rtsp://, http://, files, folders)."""
