"""Stage 4, drawing: 2-D projections and the pictures made from them (matplotlib, lazily)."""
