"""Running the whole federation on one machine (``make run``) behind nginx: not part of the library the apps
use."""
