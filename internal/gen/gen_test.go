package gen

import "testing"

func TestOptionsGiveValidInventories(t *testing.T) {
	inv := Inventory(PerDatabase(), Keys("rsa-2048"), Profile("modern"), ManyDatabases(3), NoRedis(), UID(1000))
	if len(inv.Postgres.Databases) != 3 || inv.Redis != nil || inv.Postgres.RunAsUID() != 1000 {
		t.Fatalf("options not applied: %+v", inv)
	}
}
