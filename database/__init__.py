"""The data path below the queries: the engines that reach the platform's database (engines.py) and the query
cache that stands between every widget and them (query_cache.py)."""
