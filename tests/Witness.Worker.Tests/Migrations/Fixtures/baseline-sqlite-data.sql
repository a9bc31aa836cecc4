-- A small data set in the baseline schema, SQLite: every table has rows; times are UTC ticks, guids above 2^63
-- are stored as negative integers. Written by that version's EF Core model and dumped with sqlite3; never edit.

INSERT INTO datasets VALUES(1,'nas1','tank','filesystem',NULL,NULL,NULL,NULL,'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb');
INSERT INTO datasets VALUES(2,'nas1','tank/data','filesystem','aes-256-gcm','available',NULL,4096,'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
INSERT INTO datasets VALUES(3,'backup1','backup/data','filesystem','off',NULL,'1-e604ea4bf-e0-789c63a2',NULL,'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc');
INSERT INTO hosts VALUES('backup1',1,'Late',639315871501234567,60,'freebsd','zfs-2.1.14-1','sh-1.0',NULL,'zfs list: échec ''quoted''',17,NULL,NULL,NULL,'["backup"]',3);
INSERT INTO hosts VALUES('nas1',1,'Online',639315873301234567,60,'linux','zfs-2.2.6-1','1.0.0','[{"name":"tank","health":"ONLINE"}]',NULL,42,'3F2504E0-4F89-41D3-9A0C-0305E82C3301',639315873251234567,639315867301234567,'["tank"]',7);
INSERT INTO hosts VALUES('stranger',0,'Offline',NULL,0,NULL,NULL,NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,1);
INSERT INTO instruction_attempts VALUES('1C9E6679-7425-50DE-944B-E07FC1F90A09',1,'critical','tank/data','nas1','backup1','full',639314145301234567,639314181301234567,'{"kind":"full"}','completed',639314157301234567,'cron@backup1',0,NULL,123456789012,NULL);
INSERT INTO instruction_attempts VALUES('7C9E6679-7425-50DE-944B-E07FC1F90A04',1,'critical','tank/data','nas1','backup1','incremental',639315837301234567,639315873301234567,'{"kind":"incremental"}','failed',639315843301234567,'executor@backup1',1,'cannot receive: destination has been modified',0,NULL);
INSERT INTO instruction_attempts VALUES('7C9E6679-7425-50DE-944B-E07FC1F90A04',2,'critical','tank/data','nas1','backup1','rollback-and-incremental',639315870301234567,639315906301234567,'{"kind":"rollback-and-incremental"}',NULL,NULL,NULL,NULL,NULL,NULL,NULL);
INSERT INTO outbox_messages VALUES(1,'0D6C6F1E-9C44-5A8E-8A3B-6B1C2F6D1A01','ZfsSync.Contracts.SyncConflictDetected, ZfsSync.Contracts','{"conflictId":"5b0d4a7e-1c2f-5e9a-9d3c-0a1b2c3d4e05"}',NULL,NULL,'2026-11-29 22:14:30.1234567','2026-11-29 22:14:30.1634567',1,NULL,NULL);
INSERT INTO outbox_messages VALUES(2,'0D6C6F1E-9C44-5A8E-8A3B-6B1C2F6D1A02','ZfsSync.Contracts.SyncInstructionIssued, ZfsSync.Contracts','{"instructionId":"7c9e6679-7425-50de-944b-e07fc1f90a04"}','exchange:ZfsSync.Contracts:SyncInstructionIssued','{"x-test":"1"}','2026-11-29 22:15:30.1234567',NULL,2,'2026-11-29 22:16:00.1234567','broker unreachable');
INSERT INTO processed_reports VALUES('3F2504E0-4F89-41D3-9A0C-0305E82C3301',0,1,'nas1',42,639315873251234567,'applied',4,1,0,NULL);
INSERT INTO processed_reports VALUES('9A0C0305-4F89-41D3-9A0C-0305E82C3302',1,2,'backup1',17,639315870901234567,'applied-part',1,0,0,'["backup/data"]');
INSERT INTO sync_conflicts VALUES('5B0D4A7E-1C2F-5E9A-9D3C-0A1B2C3D4E05','critical','tank/data','diverged-target','nas1','backup1','{"kind":"diverged-target"}',639315855301234567,NULL,'rollback-target','alice@chatops',639315869701234567,NULL);
INSERT INTO sync_conflicts VALUES('5B0D4A7E-1C2F-5E9A-9D3C-0A1B2C3D4E06','critical','tank/data','split-brain','nas1','backup1','{"kind":"split-brain"}',639313281301234567,639313353301234567,'promote','bob',639313317301234567,'nas1');
INSERT INTO sync_group_definitions VALUES('critical','dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',639315009301234567,'{"name":"critical","source":"nas1","members":["nas1","backup1"]}');
INSERT INTO sync_group_statuses VALUES('critical',639315873301234567,'[{"dataset":"tank/data","status":"conflicted"}]');
INSERT INTO sync_groups VALUES('6BA7B810-9DAD-51D1-80B4-00C04FD430C8','Conflicted',12,'critical','dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',639315009301234567,1,0,1,1,1,639315873301234567);
INSERT INTO bookmarks VALUES(1,2,'auto-1',-1152921504606846976,100,639315801301234567);
INSERT INTO snapshots VALUES(1,2,'auto-1',-1152921504606846976,100,639315801301234567,1024,1000000000000);
INSERT INTO snapshots VALUES(2,2,'auto-2',-1,101,639315837301234567,0,2048);
INSERT INTO snapshots VALUES(3,3,'auto-1',-1152921504606846976,5001,639315801301234567,512,999);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('datasets',3);
INSERT INTO sqlite_sequence VALUES('outbox_messages',2);
INSERT INTO sqlite_sequence VALUES('bookmarks',1);
INSERT INTO sqlite_sequence VALUES('snapshots',3);
