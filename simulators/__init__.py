"""Hardware-free machines and lines; they use ``protocols`` only, never ``gateway`` or ``adapters``."""
