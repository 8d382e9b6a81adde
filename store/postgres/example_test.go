package postgres_test

import (
	"context"
	"database/sql"
	"log"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/chatnotify/chatnotify/approval"
	"github.com/chatnotify/chatnotify/store/postgres"
)

// A host opens the store once at start-up and hands it to the approval
// routine (and to notify's Dispatcher and settings API). The tables go
// to the schema named by search_path.
func ExampleOpen() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "postgres://chatnotify@db.internal:5432/app?search_path=chatnotify",
		&postgres.Options{MaxOpenConns: 20})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	svc, err := approval.NewService(store, store, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = svc
}

// A host that manages its own pool passes it to New; Close then leaves
// it open.
func ExampleNew() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://app@db.internal:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(20)

	store, err := postgres.New(ctx, db, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
