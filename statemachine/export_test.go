package statemachine

// NormalizeFSMError exposes normalizeFSMError to the external tests.
var NormalizeFSMError = normalizeFSMError
