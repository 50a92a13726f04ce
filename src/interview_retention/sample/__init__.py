"""Sample data: the shipped question bank and a generator of realistic sessions."""
