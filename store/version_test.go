package store_test

// schemaVersion is the latest embedded migration's number, which the
// tests of migrations and schema errors expect: the one number to change
// when a migration is added.
const schemaVersion = 10
