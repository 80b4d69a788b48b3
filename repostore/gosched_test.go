package repostore

import "runtime"

func runtimeGosched() { runtime.Gosched() }
