"""Files: images and maps (:mod:`.images`), users' tables (:mod:`.tables`), atomic
writes and JSON (:mod:`.files`), per-image records and their identities
(:mod:`.records`). The bottom layer: imports nothing else of quickgaze.
"""
