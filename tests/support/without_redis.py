"""Python source that makes ``import redis`` fail, for a child interpreter run with
``python -c`` (as on a machine where the redis package is not installed)."""

WITHOUT_REDIS = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'redis' or name.startswith('redis.'):\n"
    "            raise ImportError('no redis here')\n"
    "sys.meta_path.insert(0, Block())\n"
)
