import sys

from rag_core.cli.commands import main

sys.exit(main())
