"""HJ 212-2017 data transmission: packets (``packet``), CRC (``crc``), code mapping (``codes``),
the TCP receiver that stores readings (``receiver``) and a device simulator (``client``).
See docs/hj212.md."""
