"""SellApp <-> Discord ticket bridge."""
