"""What starts runs without anyone clicking: the account sync sensor."""
