-- 0011: the product an order card's order is for (its first line item), as last read,
-- so /sellapp stats can count tickets per product.
ALTER TABLE order_cards ADD COLUMN product TEXT;
