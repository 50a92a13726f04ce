"""Users, their API tokens and their resumes."""
