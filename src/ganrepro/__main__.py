import sys

from ganrepro.cli import main

sys.exit(main())
