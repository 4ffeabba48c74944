"""Hydra search-path plugin written by sam3c: the directories in SAM3C_CONFIG_PATH (separated by os.pathsep) come
first on the config search path of Meta's trainer, so that `python -m sam3.train.train -c NAME.yaml` finds the
configs sam3c wrote without copying them into the installed sam3 package."""
import os

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class Sam3cSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        dirs = [d for d in os.environ.get("SAM3C_CONFIG_PATH", "").split(os.pathsep) if d]
        for d in reversed(dirs):
            search_path.prepend(provider="sam3c", path="file://" + os.path.abspath(d))
