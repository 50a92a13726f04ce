"""Deletion and retention: soft delete, restore, hard delete, notices and purges."""
