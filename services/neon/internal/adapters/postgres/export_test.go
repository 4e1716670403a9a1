package postgres

// LockID is lockID, for tests that hold a customer's lock as another
// replica would.
var LockID = lockID
