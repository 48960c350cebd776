package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/payroute/payroute/analytics"
	"github.com/payroute/payroute/kafka"
)

func migrateCommand(args []string) error {
	fs := newFlagSet("migrate", "[--config FILE] [--forget-topic TOPIC]")
	path := fs.String("config", "", "YAML configuration file; its analytics.clickhouse section is used (and kafka, with --forget-topic)")
	forget := fs.String("forget-topic", "", "after migrating, forget how far TOPIC (one the sink loads) was loaded, so that the sink loads it from its start: "+
		"for a topic deleted and created again (the sink stops on it, saying so). Every instance running the sink must be stopped first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfiguration(*path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := analytics.Open(ctx, cfg.Analytics.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := analytics.Migrate(ctx, conn); err != nil {
		return err
	}
	applied, err := analytics.AppliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "migrate: database %s at %s is at migration %v\n", conn.Database, conn.Addr, applied)
	if *forget == "" {
		return nil
	}
	return forgetTopic(ctx, cfg, conn, *forget)
}

// forgetTopic runs analytics.ForgetTopic for one of the sink's topics.
func forgetTopic(ctx context.Context, cfg Configuration, conn *analytics.Conn, topic string) error {
	topics := cfg.Kafka.Topics()
	if topic != topics.Attempts && topic != topics.Results && topic != topics.Requested {
		return fmt.Errorf("--forget-topic %s: not a topic the sink loads (%s, %s, %s)", topic, topics.Attempts, topics.Results, topics.Requested)
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return fmt.Errorf("--forget-topic needs kafka.brokers: an embedded broker lives only as long as its payroute run")
	}
	cluster, err := kafka.NewCluster(cfg.Kafka, nil)
	if err != nil {
		return err
	}
	client, err := cluster.NewClient()
	if err != nil {
		return err
	}
	defer client.Close()
	n, err := analytics.ForgetTopic(ctx, conn, kadm.NewClient(client), cfg.Analytics.Group, topic)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "migrate: forgot how far %s was loaded (%d partitions in ClickHouse) and the offsets group %s committed for it: the sink loads it from its start\n", topic, n, cfg.Analytics.Group)
	return nil
}
