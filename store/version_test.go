package store_test

// schemaVersion is the latest embedded migration's number, which the
// tests of migrations and schema errors expect.
const schemaVersion = 5
