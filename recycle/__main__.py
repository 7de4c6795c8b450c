import sys

from recycle.cli.main import main

sys.exit(main())
