"""Analytics: time buckets, rollups and the data series read from them."""
