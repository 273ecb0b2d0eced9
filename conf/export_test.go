package conf

// SafeInstance exposes safeInstance, which DefaultInstance applies to the
// host name, to the tests.
var SafeInstance = safeInstance
