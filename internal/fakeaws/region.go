package fakeaws

// region is one account's state in one region. Server.mu guards it.
type region struct {
	account string
	name    string

	stacks       []*stack // in creation order, deleted ones too (they stay visible by ID)
	functions    map[string]*function
	aliasHistory []AliasChange
	keys         map[string]*kmsKey // by key ID
	keyAliases   map[string]string  // alias/name → key ID
	alarms       map[string]*alarm
	metrics      []MetricPoint
	deployments  map[string]*deployment
}

func newRegion(account, name string) *region {
	return &region{
		account: account, name: name,
		functions:   map[string]*function{},
		keys:        map[string]*kmsKey{},
		keyAliases:  map[string]string{},
		alarms:      map[string]*alarm{},
		deployments: map[string]*deployment{},
	}
}
