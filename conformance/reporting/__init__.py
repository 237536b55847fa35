"""The report's parts that stand alone: the pictures (``plots``)."""
