"""A pymilter milter that does nothing and accepts everything: variant N of the
benchmark, the floor any Python milter pays for the milter protocol itself.
Run: python bench/noop_milter.py unix:/path/to/socket"""

import sys

import Milter


class Noop(Milter.Base):
    def eom(self):
        return Milter.ACCEPT


if __name__ == "__main__":
    Milter.factory = Noop
    Milter.runmilter("noop", sys.argv[1], timeout=600)
